// IP policy rule CIDRs as ngrok checks them: a mask is required (ERR_NGROK_1413), the address
// must parse (ERR_NGROK_1406) and be the network address of its range (ERR_NGROK_1409).
import net from 'node:net';
import { badRequest } from './errors';

function v6ToBigInt(address: string): bigint {
  const [head, tail = ''] = address.split('::');
  const parts = (s: string) => (s ? s.split(':') : []);
  let groups = [...parts(head), ...parts(tail)];
  const last = groups.at(-1) ?? '';
  if (last.includes('.')) {
    const b = last.split('.').map(Number);
    groups = [...groups.slice(0, -1), ((b[0] << 8) | b[1]).toString(16), ((b[2] << 8) | b[3]).toString(16)];
  }
  const headCount = address.includes('::') ? parts(head).length : groups.length;
  const full = address.includes('::')
    ? [...groups.slice(0, headCount), ...Array(8 - groups.length).fill('0'), ...groups.slice(headCount)]
    : groups;
  return full.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function bigIntToV6(n: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

export function checkRuleCidr(cidr: string): void {
  const [address, bits, extra] = cidr.trim().split('/');
  const family = net.isIP(address);
  if (!family) throw badRequest('ERR_NGROK_1406', `Invalid CIDR: ${cidr}`, { field: 'cidr' });
  if (bits === undefined)
    throw badRequest(
      'ERR_NGROK_1413',
      `IP Policy Rule is missing a network mask. Consider using ${address}/${family === 4 ? 32 : 128} if you want to target a single host IP.`,
      { field: 'cidr' },
    );
  const prefix = Number(bits);
  const max = family === 4 ? 32 : 128;
  if (extra !== undefined || !/^\d{1,3}$/.test(bits) || prefix > max)
    throw badRequest('ERR_NGROK_1406', `Invalid CIDR: ${cidr}`, { field: 'cidr' });
  const width = BigInt(max);
  const value =
    family === 4 ? address.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n) : v6ToBigInt(address);
  const mask = prefix === 0 ? 0n : ((1n << width) - 1n) ^ ((1n << (width - BigInt(prefix))) - 1n);
  const network = value & mask;
  if (network !== value) {
    const text =
      family === 4 ? [24n, 16n, 8n, 0n].map((s) => String((network >> s) & 255n)).join('.') : bigIntToV6(network);
    throw badRequest(
      'ERR_NGROK_1409',
      `IP Policy Rule CIDR ${cidr} must be specified using the lowest IP address in the range. Did you mean ${text}/${prefix}?`,
      { field: 'cidr' },
    );
  }
}
