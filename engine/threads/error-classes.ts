/**
 * The error classes an error crossing between the engine's threads is rebuilt as, by class
 * name: the library's errors, the store's, and the failures workflows and activities raise.
 *
 * @module
 */
import * as failures from '../../common/failures.js';
import { StoreError } from '../../store/errors.js';
import * as engineErrors from '../errors.js';
import { StreamLaggedError } from '../history-stream.js';
import { RunQuarantinedError } from '../quarantine.js';
import { RunIdInUseError } from '../run-starter.js';
import { ScheduleNotFoundError } from '../schedules/schedules.js';

type ErrorClass = abstract new (...args: never[]) => Error;

const isErrorClass = (value: unknown): value is ErrorClass => typeof value === 'function' && (value === Error || value.prototype instanceof Error);

export const errorClasses: Record<string, ErrorClass> = Object.fromEntries(
  [...Object.values(engineErrors), ...Object.values(failures), StoreError, StreamLaggedError, RunQuarantinedError, RunIdInUseError, ScheduleNotFoundError, TypeError, RangeError]
    .flatMap((value: unknown) => (isErrorClass(value) ? [[value.name, value]] : [])),
);
