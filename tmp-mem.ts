import { startFilter } from './test/filter/bridge-fixture.ts';

const app = { id: 'bench/app', hosts: ['app.example.com'], ready: true, maxBuffered: 20000 };
const h: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/x'],
  [':authority', 'app.example.com'],
];
const { plugin } = await startFilter({ backends: [app] });
const w = plugin.workers[0]!;
for (let round = 0; round < 5; round++) {
  const before = w.memoryBytes;
  for (let i = 0; i < 20000; i++) {
    const s = plugin.openStream({ headers: h });
    s.close();
  }
  console.log('pass round', round, 'grew', w.memoryBytes - before);
}
const { plugin: held } = await startFilter({ backends: [{ ...app, ready: false }] });
const hw = held.workers[0]!;
const b = hw.memoryBytes;
const ss = Array.from({ length: 1000 }, () => held.openStream({ headers: h }));
console.log('held 1000 grew', hw.memoryBytes - b);
plugin.close();
held.close();
process.exit(0);
