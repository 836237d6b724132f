/**
 * Errors of the admin HTTP interface: every one is answered as JSON `{"error":{"code","message"}}` with its HTTP
 * status, so scripts can tell a bad filter (400) from a missing client (404) without reading prose.
 */

/** The error codes the API answers with, by HTTP status. */
export const errorStatus = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal_error: 500,
  not_implemented: 501,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return errorStatus[this.code];
  }
}

/** A 400 naming what was wrong with the request. */
export function badRequest(message: string): ApiError {
  return new ApiError('bad_request', message);
}

export function notFound(message: string): ApiError {
  return new ApiError('not_found', message);
}
