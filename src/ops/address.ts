/** Matching client addresses against an operator's `10.1.2.3` or `10.0.0.0/8` (IPv4-mapped IPv6 addresses included). */
import { BlockList, isIP } from 'node:net';
import { badRequest } from './http-error.js';

/** `::ffff:10.1.2.3` → `10.1.2.3`, so an IPv4 filter matches clients of a dual-stack listener. */
function plain(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** A test for addresses: one address, or a CIDR block; 400 for anything else. */
export function addressMatcher(text: string): (address: string) => boolean {
  const [base = '', prefix] = text.split('/');
  const family = isIP(plain(base));
  if (family === 0) throw badRequest(`'${text}' is not an IP address or a CIDR block`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (prefix === undefined) list.addAddress(plain(base), type);
  else {
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits <= (family === 4 ? 32 : 128))) throw badRequest(`'${text}' has a bad prefix length`);
    list.addSubnet(plain(base), bits, type);
  }
  return (address) => {
    const candidate = plain(address);
    const kind = isIP(candidate);
    return kind !== 0 && list.check(candidate, kind === 4 ? 'ipv4' : 'ipv6');
  };
}
