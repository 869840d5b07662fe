// Errors raised by the I/O shells (TUN devices, UDP sockets, routes). `code` is stable:
// tun-permission, tun-bad-name, tun-unavailable, tun-open, udp-bind, udp-address,
// route, native-missing, closed.
import { KeyplaneError } from '../util/errors.js';

export class IoError extends KeyplaneError {}
