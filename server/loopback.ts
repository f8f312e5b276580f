/** Whether a host name or address (`::1` or a URL's `[::1]`) is this machine's own loopback. */
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export const isLoopback = (host: string): boolean => LOOPBACK.has(host.replace(/^\[(.*)\]$/, '$1'));
