// The authtoken-guessing throttle on its own, with a fake clock.
import assert from 'node:assert/strict';
import { MemoryAuthThrottle, throttleKey } from '../../tunnel/src/edge/auth-throttle';

describe('auth throttle (memory)', () => {
  it('allows a burst, then locks the address with a lock that doubles per further failure', async () => {
    let now = 1_000_000;
    const t = new MemoryAuthThrottle({ burst: 3, baseLockMs: 1000, maxLockMs: 5000, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(await t.check('10.0.0.1'), 0);
      await t.failed('10.0.0.1');
    }
    assert.equal(await t.check('10.0.0.1'), 0, 'the burst itself is not locked');
    await t.failed('10.0.0.1');
    assert.equal(await t.check('10.0.0.1'), 1000);
    assert.equal(await t.check('10.0.0.2'), 0, 'other addresses are not affected');
    now += 1000;
    assert.equal(await t.check('10.0.0.1'), 0, 'the lock passes');
    await t.failed('10.0.0.1');
    assert.equal(await t.check('10.0.0.1'), 2000);
    now += 2000;
    for (let i = 0; i < 5; i++) await t.failed('10.0.0.1');
    assert.equal(await t.check('10.0.0.1'), 5000, 'capped at maxLockMs');
    now += 5000;
    await t.succeeded('10.0.0.1');
    await t.failed('10.0.0.1');
    assert.equal(await t.check('10.0.0.1'), 0, 'a success forgets the failures');
  });

  it('forgets old failures and bounds the number of addresses it remembers', async () => {
    let now = 0;
    const t = new MemoryAuthThrottle({ burst: 1, forgetAfterMs: 60_000, maxEntries: 100, now: () => now });
    await t.failed('10.0.0.1');
    now += 61_000;
    await t.failed('10.0.0.1');
    assert.equal(await t.check('10.0.0.1'), 0);
    for (let i = 0; i < 1000; i++) await t.failed(`10.1.${i >> 8}.${i & 255}`);
    assert.equal(t.size, 100);
  });

  it('counts IPv6 per /64 and IPv4-mapped addresses as IPv4', () => {
    assert.equal(throttleKey('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(throttleKey('2001:db8:1:2:aaaa::1'), throttleKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
    assert.notEqual(throttleKey('2001:db8:1:2::1'), throttleKey('2001:db8:1:3::1'));
    assert.equal(throttleKey('::1'), '0:0:0:0::/64');
  });
});
