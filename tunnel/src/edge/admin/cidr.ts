// IP policy rule CIDRs as ngrok checks them: a mask is required (ERR_NGROK_1413), the address
// must parse (ERR_NGROK_1406) and be the network address of its range (ERR_NGROK_1409).
import { isNetworkAddress, networkAddress, parseCidr } from '../../net/cidr';
import { badRequest } from './errors';

export function checkRuleCidr(cidr: string): void {
  const parsed = parseCidr(cidr);
  if ('error' in parsed) {
    if (parsed.error === 'invalid') throw badRequest('ERR_NGROK_1406', `Invalid CIDR: ${cidr}`, { field: 'cidr' });
    throw badRequest(
      'ERR_NGROK_1413',
      `IP Policy Rule is missing a network mask. Consider using ${parsed.address}/${parsed.family === 'ipv4' ? 32 : 128} if you want to target a single host IP.`,
      { field: 'cidr' },
    );
  }
  if (!isNetworkAddress(parsed.cidr))
    throw badRequest(
      'ERR_NGROK_1409',
      `IP Policy Rule CIDR ${cidr} must be specified using the lowest IP address in the range. Did you mean ${networkAddress(parsed.cidr)}/${parsed.cidr.prefix}?`,
      { field: 'cidr' },
    );
}
