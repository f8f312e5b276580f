/**
 * Temporal's list filter (`client.workflow.list({ query: "WorkflowType = 'order' AND
 * ExecutionStatus = 'Running'" })`) turned into the engine's visibility query. The subset:
 * conditions `Key = value`, `Key < value`, `Key > value` joined by `AND`; keys
 * `WorkflowId`, `WorkflowType`, `ExecutionStatus`, `StartTime`, `CloseTime` and search
 * attributes; values quoted strings, numbers, `true`/`false`. Anything else, Temporal's other
 * built-in keys included, is refused by name.
 *
 * @module
 */
import { InvalidArgumentError, RUN_STATUSES, type AttributePredicate, type RunStatus, type VisibilityQuery } from '../engine/index.js';

const CONDITION = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=|<|>)\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false)\s*$/;

export function parseListQuery(query: string | undefined): VisibilityQuery {
  const result: VisibilityQuery = {};
  if (query === undefined || query.trim() === '') return result;
  for (const part of splitOnAnd(query)) {
    const match = CONDITION.exec(part);
    if (!match) throw new InvalidArgumentError(`cannot read the list query condition '${part.trim()}': supported are Key = value, Key < value, Key > value joined by AND`);
    const [, key, op, literal] = match;
    apply(result, key, op as '=' | '<' | '>', valueOf(literal));
  }
  return result;
}

function splitOnAnd(query: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (let i = 0; i < query.length; i++) {
    const char = query[i];
    if (quote) {
      current += char;
      if (char === '\\') current += query[++i] ?? '';
      else if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
      current += char;
    } else if (/^\s+AND\s+/i.test(query.slice(i)) && /\s/.test(char)) {
      parts.push(current);
      current = '';
      i += /^\s+AND\s+/i.exec(query.slice(i))![0].length - 1;
    } else if (/^\s+(OR|ORDER\s+BY)\s/i.test(query.slice(i)) || char === '(') {
      throw new InvalidArgumentError(`the list query uses '${/^\s*(\S+)/.exec(query.slice(i))![1]}', which is not supported: join conditions with AND`);
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}

function valueOf(literal: string): string | number | boolean {
  if (literal === 'true' || literal === 'false') return literal === 'true';
  if (literal.startsWith("'") || literal.startsWith('"')) return literal.slice(1, -1).replace(/\\(.)/g, '$1');
  return Number(literal);
}

/** Temporal's built-in list keys this engine does not index: refused rather than read as search attributes. */
const UNSUPPORTED_KEYS = new Set(['RunId', 'TaskQueue', 'ExecutionTime', 'ExecutionDuration', 'HistoryLength', 'HistorySizeBytes', 'StateTransitionCount', 'BuildIds', 'TemporalChangeVersion', 'BatcherUser', 'TemporalScheduledStartTime', 'TemporalScheduledById', 'TemporalSchedulePaused', 'TemporalNamespaceDivision', 'RootWorkflowId', 'RootRunId', 'ParentWorkflowId', 'ParentRunId']);

function apply(query: VisibilityQuery, key: string, op: '=' | '<' | '>', value: string | number | boolean): void {
  if (UNSUPPORTED_KEYS.has(key)) throw new InvalidArgumentError(`the list query key ${key} is not supported: use WorkflowId, WorkflowType, ExecutionStatus, StartTime, CloseTime or a search attribute`);
  switch (key) {
    case 'WorkflowId':
      if (op !== '=' || typeof value !== 'string') throw new InvalidArgumentError('WorkflowId only takes = with a string');
      query.workflowId = value;
      return;
    case 'WorkflowType':
      if (op !== '=' || typeof value !== 'string') throw new InvalidArgumentError('WorkflowType only takes = with a string');
      query.workflowType = value;
      return;
    case 'ExecutionStatus':
      if (op !== '=' || !RUN_STATUSES.includes(value as RunStatus)) throw new InvalidArgumentError(`ExecutionStatus only takes = with one of ${RUN_STATUSES.join(', ')}`);
      query.status = value as RunStatus;
      return;
    case 'StartTime':
    case 'CloseTime': {
      if (op === '=' || typeof value !== 'string') throw new InvalidArgumentError(`${key} takes < or > with an ISO time`);
      const field = key === 'StartTime' ? 'startTime' : 'closeTime';
      query[field] = { ...query[field], ...(op === '>' ? { from: value } : { to: value }) };
      return;
    }
    default: {
      const predicate: AttributePredicate = op === '=' ? value : op === '<' ? { lt: value as number | string } : { gt: value as number | string };
      query.searchAttributes = { ...query.searchAttributes, [key]: predicate };
    }
  }
}
