// PROXY protocol headers (haproxy's proxy-protocol.txt, v1 text and v2 binary) that the edge writes
// at the start of a proxied tcp/tls stream when the bind asked for them (ngrok's `proxy_proto`):
// the agent passes them to the upstream, which learns the visitor's address.
import net from 'node:net';

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

interface Endpoint {
  ip: string;
  port: number;
}

/** "ip:port" as Node prints it (IPv6 unbracketed, IPv4-mapped IPv6 included) → parts. */
export function parseAddress(addr: string): Endpoint | undefined {
  const colon = addr.lastIndexOf(':');
  if (colon < 0) return undefined;
  const ip = addr
    .slice(0, colon)
    .replace(/^\[|\]$/g, '')
    .replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  const port = Number(addr.slice(colon + 1));
  if (!net.isIP(ip) || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { ip, port };
}

/** The header for version 1 or 2; UNKNOWN / LOCAL when the addresses are missing or mixed families. */
export function proxyHeader(version: 1 | 2, source?: Endpoint, destination?: Endpoint): Buffer {
  const family = source && destination && net.isIP(source.ip) === net.isIP(destination.ip) ? net.isIP(source.ip) : 0;
  if (version === 1) {
    if (!family) return Buffer.from('PROXY UNKNOWN\r\n');
    const proto = family === 4 ? 'TCP4' : 'TCP6';
    return Buffer.from(`PROXY ${proto} ${source!.ip} ${destination!.ip} ${source!.port} ${destination!.port}\r\n`);
  }
  if (!family) return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]); // LOCAL
  const addrs = family === 4 ? 12 : 36;
  const out = Buffer.alloc(16 + addrs);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = family === 4 ? 0x11 : 0x21; // TCP over IPv4 / IPv6
  out.writeUInt16BE(addrs, 14);
  const ipBytes = (ip: string) => (family === 4 ? Buffer.from(ip.split('.').map(Number)) : ipv6Bytes(ip));
  const len = family === 4 ? 4 : 16;
  ipBytes(source!.ip).copy(out, 16);
  ipBytes(destination!.ip).copy(out, 16 + len);
  out.writeUInt16BE(source!.port, 16 + 2 * len);
  out.writeUInt16BE(destination!.port, 18 + 2 * len);
  return out;
}

function ipv6Bytes(ip: string): Buffer {
  let [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  let v4: number[] = [];
  const last = (tail ?? head).split(':').pop() ?? '';
  if (last.includes('.')) {
    v4 = last.split('.').map(Number);
    if (tail !== undefined) tail = tail.slice(0, -last.length).replace(/:$/, '');
    else head = head.slice(0, -last.length).replace(/:$/, '');
  }
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = 8 - v4.length / 2;
  const all = tail === undefined ? h : [...h, ...Array(groups - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  if (v4.length) Buffer.from(v4).copy(out, 12);
  return out;
}
