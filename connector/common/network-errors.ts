/** Error codes of a connection that broke or never formed (Node's and undici's): worth another try. */
export const BROKEN_CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
]);

/** The error code that says the request never reached a server: nothing can have been made. */
export const REFUSED_CODE = 'ECONNREFUSED';
