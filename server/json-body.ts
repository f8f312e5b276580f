/** Reading a request's JSON body, with a clear error for what is not a JSON object. */
import { HttpError } from './errors.js';

/** The body as a JSON object; `fallback` for an empty body (when given), a 400 otherwise. */
export async function jsonBody<T extends object>(c: { req: { text(): Promise<string> } }, fallback?: T): Promise<T> {
  const text = await c.req.text();
  if (text.trim() === '' && fallback !== undefined) return fallback;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'INVALID_ARGUMENT', 'the request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'INVALID_ARGUMENT', 'the request body must be a JSON object');
  return body as T;
}
