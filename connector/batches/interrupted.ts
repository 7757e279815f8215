/** Thrown out of a wait when the run is stopping (SIGTERM/SIGINT, or submit_only's "don't wait"). */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'Interrupted';
  }
}
