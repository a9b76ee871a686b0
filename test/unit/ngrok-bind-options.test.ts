// ngrok's Bind → Burrow's BindRequest for ForwardsProto (the SDKs' `app_protocol`): honoured on http,
// refused with a code elsewhere, never ignored.
import assert from 'node:assert/strict';
import { toBindRequest, UNSUPPORTED } from '../../tunnel/src/ngrok-protocol/bind-options';
import type { Bind } from '../../tunnel/src/ngrok-protocol/messages';

const bind = (b: Partial<Bind> & Record<string, unknown>): Bind =>
  ({ Id: '', Proto: 'https', Opts: {}, Extra: {}, ...b }) as unknown as Bind;

describe('ngrok Bind options: app_protocol (ForwardsProto)', () => {
  it('http endpoints: "" and http1 speak HTTP/1.1, http2 speaks HTTP/2 to the agent', () => {
    assert.equal(toBindRequest(bind({}), 'n', []).tunnel.http2, undefined);
    assert.equal(toBindRequest(bind({ ForwardsProto: 'http1' }), 'n', []).tunnel.http2, undefined);
    assert.equal(toBindRequest(bind({ ForwardsProto: 'http2' }), 'n', []).tunnel.http2, true);
    // Go spells it forwardsproto in any case: keys are case-insensitive.
    assert.equal(toBindRequest(bind({ forwardsproto: 'http2' }), 'n', []).tunnel.http2, true);
  });

  it('an unknown app_protocol, or one on tcp/tls, is refused with a code', () => {
    assert.throws(() => toBindRequest(bind({ ForwardsProto: 'http3' }), 'n', []), { code: UNSUPPORTED });
    assert.throws(() => toBindRequest(bind({ Proto: 'tcp', Opts: { Addr: '' }, ForwardsProto: 'http2' }), 'n', []), {
      code: UNSUPPORTED,
    });
    assert.throws(
      () => toBindRequest(bind({ Proto: 'tls', Opts: { Domain: 'a.localhost' }, ForwardsProto: 'x' }), 'n', []),
      {
        code: UNSUPPORTED,
      },
    );
    assert.doesNotThrow(() => toBindRequest(bind({ Proto: 'tcp', Opts: { Addr: '' }, ForwardsProto: '' }), 'n', []));
  });
});
