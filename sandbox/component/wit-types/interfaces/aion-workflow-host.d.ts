/** @module Interface aion:workflow/host@0.1.0 **/
/**
 * A log line of the run, attributed to the activation running; dropped while the run is
 * being replayed (as the QuickJS guest's `log` is).
 */
export function log(level: LogLevel, message: string): void;
/**
 * # Variants
 * 
 * ## `"debug"`
 * 
 * ## `"info"`
 * 
 * ## `"warn"`
 * 
 * ## `"error"`
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
