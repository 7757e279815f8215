/** The endpoints the emulator serves, as named in call counts and fault rules. */
export const ENDPOINTS = [
  'create',
  'retrieve',
  'list',
  'cancel',
  'delete',
  'results',
  'count_tokens',
  'models',
] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** An HTTP-level failure: the call is answered with this status (or the connection is cut) instead of normally. */
export interface HttpFault {
  endpoint: Endpoint | '*';
  status?: number;
  /** 1-based numbers of the calls to that endpoint, counted from when the rule was installed. */
  calls?: number[];
  /** Chance per call (from a seeded generator, so runs repeat). */
  probability?: number;
  /** At most this many injections; unlimited when absent. */
  times?: number;
  retryAfterSeconds?: number;
  retryAfterMs?: number;
  /** Sets `x-should-retry`. */
  shouldRetry?: boolean;
  /** `error.details.error_code`, e.g. `enforced_spend_limit_reached`. */
  errorCode?: string;
  /** Perform the call first, then answer with the failure: the create-accepted-but-client-saw-an-error trap. */
  afterEffect?: boolean;
  /** Destroy the socket instead of answering. */
  resetConnection?: boolean;
}

/** Everything a test can break. Mutable on a running emulator: changes apply to the next call. */
export interface Faults {
  http: HttpFault[];
  /** The first K retrieve/results calls for each new batch answer 404, as the API may right after create. */
  notFoundAfterCreate: number;
  /** Share of requests (chosen by custom_id) that come back `errored` with `erroredType`. */
  erroredShare: number;
  erroredType: 'api_error' | 'overloaded_error' | 'rate_limit_error' | 'invalid_request_error';
  /** How many times one custom_id is failed that way before it is let through (so retries can succeed). */
  erroredAttempts: number;
  /** Share of requests (chosen by custom_id) that come back `expired`. */
  expiredShare: number;
  expiredAttempts: number;
  /** Share of requests whose answer is unusable (bad JSON for a schema, a non-label for a label list). */
  invalidOutputShare: number;
  /** Cut the connection after this many results lines, `dropResultsTimes` times. */
  dropResultsAfterLines?: number;
  dropResultsTimes: number;
  /** Pause between results lines (a slow download). */
  resultsLineDelayMs: number;
  /** Batches never finish by themselves: they end only by cancel or by expiring at 24 h (advance the clock). */
  neverFinish: boolean;
  /** Serve results without a content-type, as the API once did. */
  resultsWithoutContentType: boolean;
  // Results-file damage, decided when a batch ends and kept in its results file (every download of that batch
  // gets the same body). The line faults (malformed, truncated, missing) hit one custom_id at most
  // `resultsFaultAttempts` times, so a follow-up batch resubmitting the damaged requests comes back whole.
  /** The first n lines are replaced by junk: cut-off JSON, not JSON, invalid UTF-8, JSON of the wrong shape, blank. */
  resultsMalformedLines: number;
  /** The results end (cleanly, at a line boundary) after this many lines; unset: no truncation. */
  resultsTruncateAfterLines?: number;
  /** Share of requests (chosen by custom_id) whose result has a `type` the SDK does not know. */
  resultsUnknownTypeShare: number;
  /** This many extra lines, for custom_ids never sent in the batch. */
  resultsStrayLines: number;
  /** Share of requests (chosen by custom_id) that have no line in the results at all. */
  resultsMissingShare: number;
  /** How many times one custom_id is hit by the malformed/truncated/missing faults before its line is let through. */
  resultsFaultAttempts: number;
}

export function defaultFaults(): Faults {
  return {
    http: [],
    notFoundAfterCreate: 0,
    erroredShare: 0,
    erroredType: 'api_error',
    erroredAttempts: 1,
    expiredShare: 0,
    expiredAttempts: 1,
    invalidOutputShare: 0,
    dropResultsTimes: 1,
    resultsLineDelayMs: 0,
    neverFinish: false,
    resultsWithoutContentType: false,
    resultsMalformedLines: 0,
    resultsUnknownTypeShare: 0,
    resultsStrayLines: 0,
    resultsMissingShare: 0,
    resultsFaultAttempts: 1,
  };
}

const ERROR_TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

export function errorTypeFor(status: number): string {
  return ERROR_TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

export const ERROR_MESSAGES: Record<string, string> = {
  api_error: 'Internal server error',
  overloaded_error: 'Overloaded',
  rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit',
  invalid_request_error: 'Invalid request',
  timeout_error: 'Request timed out',
  not_found_error: 'Not found',
};

/** Picks the fault rule (if any) that fires for this call, and counts it. */
export class FaultPicker {
  private readonly seen = new WeakMap<HttpFault, { calls: number; fired: number }>();
  constructor(private readonly random: () => number) {}

  pick(rules: HttpFault[], endpoint: Endpoint): HttpFault | undefined {
    let chosen: HttpFault | undefined;
    for (const rule of rules) {
      if (rule.endpoint !== '*' && rule.endpoint !== endpoint) continue;
      const tally = this.seen.get(rule) ?? { calls: 0, fired: 0 };
      this.seen.set(rule, tally);
      tally.calls++;
      if (chosen || (rule.times !== undefined && tally.fired >= rule.times)) continue;
      const fires = rule.calls
        ? rule.calls.includes(tally.calls)
        : rule.probability !== undefined
          ? this.random() < rule.probability
          : true;
      if (fires) {
        tally.fired++;
        chosen = rule;
      }
    }
    return chosen;
  }
}
