// The honest client of bench/abuse.ts, in a process of its own so the attacker's writes do not
// delay its event loop: reads GET <url> with a bearer token, READERS at a time, until stdin
// closes; then prints the latencies (ms) as JSON.
const [url, token, readers] = process.argv.slice(2);
let running = true;
const latencies = [];
process.stdin.resume();
process.stdin.on('end', () => (running = false));
process.stdin.on('close', () => (running = false));
async function loop() {
  while (running) {
    const t = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET answered ${res.status}`);
    latencies.push(performance.now() - t);
  }
}
await Promise.all(Array.from({ length: Number(readers) }, loop));
process.stdout.write(JSON.stringify(latencies));
