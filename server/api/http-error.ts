// The error every route throws to answer with a status and a JSON body ({error, ...body}).
// Its own module so that app.ts and the route files it mounts do not import each other.

/** An error with an HTTP status and a JSON body. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly body: Record<string, unknown> = {}) {
    super(message);
    this.name = "HttpError";
  }
}
