// Port discovery for "Expose Port…": the parsers on real-format output, and the live Linux path
// against sockets this test opens.
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  commandLabel,
  isBurrowProcess,
  listListeningPorts,
  rankPorts,
  parseLsof,
  parseNetstat,
  parseProcNetTcp,
  portFromArg,
  uniquePorts,
  validateUpstream,
} from '../../client/src/ports';

// Captured from a Linux machine (/proc/net/tcp, /proc/net/tcp6), trimmed to the columns that matter.
const PROC_TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 40012 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 40013 1 0000000000000000 100 0 0 10 0
   2: 0100007F:0BB8 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 40014 1 0000000000000000 20 4 30 10 -1
`;
const PROC_TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 50001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 50002 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1389 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 50003 1 0000000000000000 100 0 0 10 0
`;

describe('client ports: parsers', () => {
  it('reads LISTEN sockets from /proc/net/tcp and skips established ones', () => {
    assert.deepEqual(parseProcNetTcp(PROC_TCP), [
      { port: 3000, address: '127.0.0.1', inode: 40012 },
      { port: 8080, address: '0.0.0.0', inode: 40013 },
    ]);
  });

  it('decodes IPv6 addresses from /proc/net/tcp6 (any, loopback, v4-mapped)', () => {
    assert.deepEqual(parseProcNetTcp(PROC_TCP6), [
      { port: 5432, address: '::', inode: 50001 },
      { port: 80, address: '::1', inode: 50002 },
      { port: 5001, address: '127.0.0.1', inode: 50003 },
    ]);
  });

  it('reads lsof field output with the owning process', () => {
    const text = 'p812\ncnode\nn127.0.0.1:3000\nn[::1]:3000\np90\ncpostgres\nn*:5432\n';
    assert.deepEqual(parseLsof(text), [
      { port: 3000, address: '127.0.0.1', process: 'node', pid: 812 },
      { port: 3000, address: '::1', process: 'node', pid: 812 },
      { port: 5432, address: '0.0.0.0', process: 'postgres', pid: 90 },
    ]);
  });

  it('reads Windows and macOS netstat', () => {
    const win = `\nActive Connections\n\n  Proto  Local Address          Foreign Address        State           PID\n  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1044\n  TCP    127.0.0.1:3000         0.0.0.0:0              LISTENING       7720\n  TCP    127.0.0.1:3000         127.0.0.1:51000        ESTABLISHED     7720\n  TCP    [::]:445               [::]:0                 LISTENING       4\n`;
    assert.deepEqual(parseNetstat(win), [
      { port: 135, address: '0.0.0.0', pid: 1044 },
      { port: 3000, address: '127.0.0.1', pid: 7720 },
      { port: 445, address: '::', pid: 4 },
    ]);
    const mac = `Active Internet connections (including servers)\nProto Recv-Q Send-Q  Local Address          Foreign Address        (state)\ntcp4       0      0  127.0.0.1.3000         *.*                    LISTEN\ntcp46      0      0  *.8080                 *.*                    LISTEN\ntcp4       0      0  192.168.1.5.52100      140.82.112.3.443       ESTABLISHED\n`;
    assert.deepEqual(parseNetstat(mac), [
      { port: 3000, address: '127.0.0.1' },
      { port: 8080, address: '0.0.0.0' },
    ]);
  });

  it('keeps one entry per port, sorted, preferring the one that names a process', () => {
    assert.deepEqual(
      uniquePorts([
        { port: 8080, address: '::' },
        { port: 3000, address: '0.0.0.0' },
        { port: 8080, address: '0.0.0.0', process: 'java' },
        { port: 0, address: 'x' },
      ]),
      [
        { port: 3000, address: '0.0.0.0' },
        { port: 8080, address: '0.0.0.0', process: 'java' },
      ],
    );
  });
});

describe('client ports: order and names', () => {
  it('puts likely dev servers first, then app ports, then ephemeral ones', () => {
    const ranked = rankPorts([
      { port: 40123, address: '127.0.0.1', process: 'node' },
      { port: 22, address: '0.0.0.0', process: 'sshd' },
      { port: 5432, address: '127.0.0.1', process: 'postgres' },
      { port: 9229, address: '127.0.0.1', process: 'node' },
      { port: 3000, address: '0.0.0.0' },
      { port: 8080, address: '0.0.0.0', process: 'python3' },
    ]).map((p) => p.port);
    assert.deepEqual(ranked, [3000, 8080, 9229, 5432, 22, 40123]);
  });

  it("shortens a command line and recognises Burrow's own processes", () => {
    assert.equal(
      commandLabel(['/usr/bin/node', '/home/me/app/server.js', '--port', '3000']),
      'node server.js --port 3000',
    );
    assert.ok(commandLabel(['node', 'x'.repeat(200)]).length <= 80);
    const burrow = (command: string) => isBurrowProcess({ port: 1, address: '', command });
    assert.ok(burrow('node burrow.js start --none --web-addr 127.0.0.1:0'));
    assert.ok(burrow('node burrow http 3000'));
    assert.ok(burrow('node burrow edge --domain x'));
    assert.ok(!burrow('node server.js'));
    assert.ok(!burrow('node burrow-docs.js'));
  });
});

describe('client ports: this machine', () => {
  const servers: net.Server[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  async function open(host: string): Promise<number | undefined> {
    const s = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, host, () => resolve());
      });
    } catch {
      return undefined; // no IPv6 loopback on this machine
    }
    servers.push(s);
    return (s.address() as net.AddressInfo).port;
  }

  it('finds ports this process listens on (IPv4 and IPv6 loopback)', async function () {
    if (process.platform !== 'linux' && process.platform !== 'darwin') this.skip();
    const v4 = await open('127.0.0.1');
    const v6 = await open('::1');
    const ports = await listListeningPorts();
    const found = new Map(ports.map((p) => [p.port, p.address]));
    assert.equal(found.get(v4!), '127.0.0.1');
    // Linux names the owner from /proc (this test's own process).
    if (process.platform === 'linux') {
      const mine = ports.find((p) => p.port === v4)!;
      assert.equal(mine.pid, process.pid);
      assert.equal(mine.process, 'node');
      assert.match(mine.command ?? '', /^node /);
    }
    if (v6) assert.equal(found.get(v6), '::1');
    // A closed port is not reported.
    const closing = servers.shift()!;
    await new Promise((r) => closing.close(r));
    const after = await listListeningPorts();
    assert.ok(!after.some((p) => p.port === v4), 'a closed port must disappear');
  });
});

describe('client ports: targets', () => {
  it('takes a port from a number or a Ports view row', () => {
    assert.equal(portFromArg(3000), 3000);
    assert.equal(portFromArg({ remoteHost: 'localhost', remotePort: 5173, localAddress: 'localhost:5173' }), 5173);
    assert.equal(portFromArg({ localAddress: '127.0.0.1:8080' }), 8080);
    assert.equal(portFromArg({ label: 'x' }), undefined);
    assert.equal(portFromArg(undefined), undefined);
  });

  it('validates what "Other…" accepts', () => {
    for (const ok of ['3000', 'localhost:8080', '[::1]:9000', 'https://localhost:8443', 'file:///srv/www'])
      assert.equal(validateUpstream(ok), undefined, ok);
    assert.match(validateUpstream('70000')!, /1 to 65535/);
    assert.match(validateUpstream('not a port')!, /give a port/);
  });
});
