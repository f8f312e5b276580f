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

// Temporal's shapes ----------------------------------------------------------------------

/** The types of Temporal's typed search attributes. */
export const SearchAttributeType = {
  TEXT: 'TEXT',
  KEYWORD: 'KEYWORD',
  INT: 'INT',
  DOUBLE: 'DOUBLE',
  BOOL: 'BOOL',
  DATETIME: 'DATETIME',
  KEYWORD_LIST: 'KEYWORD_LIST',
} as const;
export type SearchAttributeType = (typeof SearchAttributeType)[keyof typeof SearchAttributeType];

/** The value type of each search attribute type, as code reads and writes it. */
export interface SearchAttributeValueOf {
  TEXT: string;
  KEYWORD: string;
  INT: number;
  DOUBLE: number;
  BOOL: boolean;
  DATETIME: Date;
  KEYWORD_LIST: string[];
}

export interface SearchAttributeKey<T extends SearchAttributeType = SearchAttributeType> {
  name: string;
  valueType: T;
}

export function defineSearchAttributeKey<T extends SearchAttributeType>(name: string, valueType: T): SearchAttributeKey<T> {
  if (typeof name !== 'string' || name === '') throw new TypeError('a search attribute key needs a name');
  if (!Object.values(SearchAttributeType).includes(valueType)) throw new TypeError(`search attribute type must be one of ${Object.values(SearchAttributeType).join(', ')}`);
  return { name, valueType };
}

export interface SearchAttributePair<T extends SearchAttributeType = SearchAttributeType> {
  key: SearchAttributeKey<T>;
  value: SearchAttributeValueOf[T];
}

/** A pair of an upsert: a `null` value removes the attribute. */
export interface SearchAttributeUpdatePair<T extends SearchAttributeType = SearchAttributeType> {
  key: SearchAttributeKey<T>;
  value: SearchAttributeValueOf[T] | null;
}

/** Temporal's typed search attributes: values read back with their type (datetimes as `Date`). */
export class TypedSearchAttributes {
  readonly #values = new Map<string, SearchAttributePair>();

  constructor(pairs: SearchAttributePair[] = []) {
    for (const pair of pairs) this.#values.set(pair.key.name, pair);
  }

  /** The value of `key` as stored in `attributes` (a run's plain search attributes), typed by `key`. */
  static fromPlain(attributes: Record<string, SearchAttributeValue>, keys?: SearchAttributeKey[]): TypedSearchAttributes {
    const byName = new Map(keys?.map((key) => [key.name, key]));
    return new TypedSearchAttributes(
      Object.entries(attributes).map(([name, value]) => {
        const key = byName.get(name) ?? { name, valueType: inferType(value) };
        return { key, value: typedValue(key.valueType, value) } as SearchAttributePair;
      }),
    );
  }

  get<T extends SearchAttributeType>(key: SearchAttributeKey<T>): SearchAttributeValueOf[T] | undefined {
    const pair = this.#values.get(key.name);
    if (!pair) return undefined;
    return typedValue(key.valueType, pair.value as SearchAttributeValue | Date) as SearchAttributeValueOf[T];
  }

  getAll(): SearchAttributePair[] {
    return [...this.#values.values()];
  }

  /** A copy with `updates` applied (a `null` value removes). */
  updateCopy(updates: SearchAttributeUpdatePair[]): TypedSearchAttributes {
    const copy = new TypedSearchAttributes(this.getAll());
    for (const update of updates) {
      if (update.value === null) copy.#values.delete(update.key.name);
      else copy.#values.set(update.key.name, update as SearchAttributePair);
    }
    return copy;
  }
}

/** What start options, child options and `upsertSearchAttributes` accept: Aion's plain record, Temporal's legacy arrays, or typed pairs. */
export type SearchAttributesInput = Record<string, unknown> | TypedSearchAttributes | readonly SearchAttributeUpdatePair[];

/**
 * Turns any accepted shape into plain values: datetimes become ISO strings, Temporal's
 * legacy one-element arrays of a number, boolean or date (`{ CustomIntField: [2] }`) their
 * element; a list of strings stays a keyword list. A typed pair's `null` (an upsert's
 * removal) stays `null`.
 */
export function normalizeSearchAttributes(input: unknown): Record<string, unknown> {
  if (input instanceof TypedSearchAttributes) return normalizeSearchAttributes(input.getAll());
  if (Array.isArray(input)) {
    const out: Record<string, unknown> = {};
    for (const pair of input as unknown[]) {
      const { key, value } = (pair ?? {}) as Partial<SearchAttributeUpdatePair>;
      if (typeof key?.name !== 'string') throw new TypeError('typed search attributes are pairs of { key: defineSearchAttributeKey(name, type), value }');
      out[key.name] = value === null || value === undefined ? null : plainTypedValue(key, value);
    }
    return out;
  }
  if (typeof input !== 'object' || input === null) throw new TypeError('search attributes must be an object');
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(input)) out[name] = plainLegacyValue(value);
  return out;
}

/** A one-element array of a number, a boolean or a date is Temporal's legacy form of that value; string lists stay keyword lists. */
/**
 * The search attributes of start or child options, given in any accepted shape
 * (`searchAttributes`, and Temporal's `typedSearchAttributes` over them), as plain values;
 * undefined when neither is given. A bad value is a `TypeError` naming it.
 */
export function startSearchAttributes(legacy: SearchAttributesInput | undefined, typed: SearchAttributesInput | undefined): Record<string, SearchAttributeValue> | undefined {
  if (legacy === undefined && typed === undefined) return undefined;
  return {
    ...checkSearchAttributes(normalizeSearchAttributes(legacy ?? {}), false),
    ...checkSearchAttributes(normalizeSearchAttributes(typed ?? {}), false),
  } as Record<string, SearchAttributeValue>;
}

function plainLegacyValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (!Array.isArray(value) || value.length !== 1 || typeof value[0] === 'string') return value;
  return plainLegacyValue(value[0]);
}

function plainTypedValue(key: SearchAttributeKey, value: unknown): unknown {
  switch (key.valueType) {
    case 'DATETIME':
      if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new TypeError(`search attribute '${key.name}' is a DATETIME: its value must be a valid Date`);
      return value.toISOString();
    case 'INT':
      if (!Number.isSafeInteger(value)) throw new TypeError(`search attribute '${key.name}' is an INT: its value must be an integer`);
      return value;
    case 'DOUBLE':
      if (typeof value !== 'number') throw new TypeError(`search attribute '${key.name}' is a DOUBLE: its value must be a number`);
      return value;
    case 'BOOL':
      if (typeof value !== 'boolean') throw new TypeError(`search attribute '${key.name}' is a BOOL: its value must be a boolean`);
      return value;
    case 'KEYWORD_LIST':
      if (!Array.isArray(value)) throw new TypeError(`search attribute '${key.name}' is a KEYWORD_LIST: its value must be an array of strings`);
      return value;
    default:
      if (typeof value !== 'string') throw new TypeError(`search attribute '${key.name}' is a ${key.valueType}: its value must be a string`);
      return value;
  }
}

function inferType(value: SearchAttributeValue): SearchAttributeType {
  if (Array.isArray(value)) return 'KEYWORD_LIST';
  if (typeof value === 'boolean') return 'BOOL';
  if (typeof value === 'number') return Number.isInteger(value) ? 'INT' : 'DOUBLE';
  return ISO_DATETIME.test(value) ? 'DATETIME' : 'KEYWORD';
}

const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function typedValue(type: SearchAttributeType, value: SearchAttributeValue | Date): unknown {
  if (type === 'DATETIME' && typeof value === 'string') return new Date(value);
  return value;
}
