// A CPU profile of every VS Code extension host, from its first line, with VS Code's own performance
// marks; for the activation figures in docs/benchmarks.md. Preloaded through NODE_OPTIONS (Node 20
// refuses --cpu-prof there), it does nothing in any process but an extension host:
//
//   NODE_OPTIONS="--require $PWD/test/bench/exthost-profile.cjs" BURROW_EXTHOST_PROFILE_DIR=/tmp/prof \
//     npx mocha --config test/e2e/.mocharc.json --grep "\(f\)"
//   node test/bench/exthost-profile-report.mjs /tmp/prof/*.cpuprofile
//
// Each host writes DIR/host-PID.cpuprofile 4 s after Burrow's code starts loading (or when it exits).
'use strict';
const fs = require('node:fs');

if (process.argv.includes('--type=extensionHost')) {
  const inspector = require('node:inspector');
  const dir = process.env.BURROW_EXTHOST_PROFILE_DIR || require('node:os').tmpdir();
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 }); // µs
  session.post('Profiler.start');
  // VS Code's marks are Date.now() values; the profile's are the monotonic clock in µs.
  const offsetUs = Date.now() * 1000 - Number(process.hrtime.bigint() / 1000n);
  const marks = () => globalThis.MonacoPerformanceMarks?.getMarks?.() ?? [];
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      const profile = { ...result.profile, offsetUs, marks: marks() };
      fs.writeFileSync(`${dir}/host-${process.pid}.cpuprofile`, JSON.stringify(profile));
    });
  };
  const poll = setInterval(() => {
    if (!marks().some((m) => m.name.includes('willLoadExtensionCode/burrow.burrow'))) return;
    clearInterval(poll);
    setTimeout(write, 4000).unref();
  }, 100);
  poll.unref();
  process.on('exit', write);
}
