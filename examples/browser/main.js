// Loads the module `matc compile` wrote for stdlib/less.mat (examples/build.sh) and runs LESS:
// on WebGPU through navigator.gpu when the browser has an adapter, else on the CPU reference.
// The page reports the backend it ran on; #out's data-status becomes "done" or "error" (the
// headless check in examples/README.md waits for it).
import { less, load, Tensor } from '../build/less.js';

const out = document.getElementById('out');
const lines = [];
function log(s) {
  lines.push(s);
  out.textContent = lines.join('\n') + '\n';
  console.log(s);
}

function normals(seed, n) {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return x;
}

const fmt = (xs) => Array.from(xs, (v) => v.toFixed(5).padStart(9)).join(' ');

async function main() {
  // The GPU object is given to matc, never looked up by it: null here means "run on the CPU".
  const gpu = 'gpu' in navigator ? navigator.gpu : null;
  log(`navigator.gpu: ${gpu ? 'present' : 'absent'}`);
  const mod = await load({ gpu });
  log(`backend: ${mod.backend}${mod.note ? ` (${mod.note})` : ''}`);
  const B = 4, m = 8, n = 3;
  const A = new Tensor([B, m, n], normals(1, B * m * n));
  const b = new Tensor([B, m], normals(2, B * m));
  const t0 = performance.now();
  const fwd = await less.forward({ A, b });
  log(`forward (${(performance.now() - t0).toFixed(1)} ms):`);
  for (let i = 0; i < B; i++) {
    const xi = fwd.outputs.x.data.subarray(i * n, (i + 1) * n);
    log(`  x[${i}] = ${fmt(xi)}   ‖x‖ = ${Math.hypot(...xi).toFixed(6)}`);
  }
  for (const s of fwd.status.nodes) log(`  ${s.name}: iterations ${s.iterations.join(', ')}`);
  const t1 = performance.now();
  const back = await less.vjp({ A, b }, { x: new Tensor([B, n], new Float64Array(B * n).fill(1)) });
  log(`vjp (${(performance.now() - t1).toFixed(1)} ms): grad b[0] = ${fmt(back.gradients.b.data.subarray(0, m))}`);
  log(`status: ${fwd.status.ok && back.status.ok ? 'ok' : fwd.status.warnings.concat(back.status.warnings).join('; ')}`);
  mod.dispose();
}

main().then(
  () => (out.dataset.status = 'done'),
  (e) => {
    log(`error: ${e && e.stack ? e.stack : e}`);
    out.dataset.status = 'error';
  },
);
