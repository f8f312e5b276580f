/** Reading a request's JSON body, with a clear error for what is not a JSON object. */
import { HttpError } from './errors.js';

/** The body as a JSON object (sent as application/json); `fallback` for an empty body (when given), a 400 otherwise. */
export async function jsonBody<T extends object>(c: { req: { text(): Promise<string>; header(name: string): string | undefined } }, fallback?: T): Promise<T> {
  const text = await c.req.text();
  if (text.trim() === '' && fallback !== undefined) return fallback;
  // A browser sends other types across sites without asking (a form, text/plain): only JSON is taken.
  if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'the request body must be sent as content-type: application/json');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'INVALID_ARGUMENT', 'the request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'INVALID_ARGUMENT', 'the request body must be a JSON object');
  return body as T;
}
