/**
 * Search attributes: the one rule for their values, shared by the guest's checks, the host's
 * command validation and the visibility index.
 *
 * @module
 */

/** A search attribute value: keyword, text, int, double, bool, datetime (ISO string), keyword list. */
export type SearchAttributeValue = string | number | boolean | string[];

/** Applies an upsert to `attributes`: `null` or an empty list removes an attribute, any other value sets it. */
export function applySearchAttributeUpsert(attributes: Record<string, SearchAttributeValue>, upsert: Record<string, SearchAttributeValue | null>): void {
  for (const [name, value] of Object.entries(upsert)) {
    if (value === null || (Array.isArray(value) && value.length === 0)) delete attributes[name];
    else attributes[name] = value;
  }
}

/** The one rule for attribute values: the guest's and the start options' check below, and the host's command validation. */
export function isSearchAttributeValue(value: unknown): value is SearchAttributeValue {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value)) ||
    (Array.isArray(value) && value.every((item) => typeof item === 'string'))
  );
}

/**
 * Checks search attribute values: strings (keyword, text, ISO datetime), finite numbers
 * (int, double), booleans and string lists (keyword list); `null` removes (when allowed).
 */
export function checkSearchAttributes(attributes: unknown, allowNull: boolean): Record<string, SearchAttributeValue | null> {
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) throw new TypeError('search attributes must be an object');
  const out: Record<string, SearchAttributeValue | null> = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (!((value === null && allowNull) || isSearchAttributeValue(value))) throw new TypeError(`search attribute '${name}' must be a string, a finite number, a boolean or a list of strings`);
    out[name] = value as SearchAttributeValue | null;
  }
  return out;
}
