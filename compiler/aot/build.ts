// What `matc compile` embeds (runtime/aot/format.ts): for every function of a program its
// source-level signature and one executable per form (compiler/executable.ts) — forward, VJP and
// JVP — with every GPU variant the runtime may pick and the CPU program. A form without a
// derivation (the VJP of a loop) is embedded as the error the JIT raises when it is first called.

import { CompileError, type Program } from '../compile.js';
import type { ExecutableData } from '../../core/executable.js';
import { InternalError } from '../../core/errors.js';
import { gradientOf } from '../../core/derivative-names.js';
import type { Func } from '../ir/node.js';
import type { TensorType } from '../ir/types.js';
import { executableData } from '../executable.js';
import { AOT_FORMAT, type AotFunctionData, type AotMissing, type AotModuleData, type AotSignature, type FunctionKind } from '../../core/aot-format.js';

function typeText(t: TensorType): { text: string; shape: string[] } {
  const shape = t.shape.map((d) => d.toString());
  const kind = t.dtype === 'i' ? 'int' : t.struct ?? (shape.length === 0 ? 'real' : shape.length === 1 ? 'vec' : shape.length === 2 ? 'mat' : 'tensor');
  return { text: shape.length ? `${kind}[${shape.join(', ')}]` : kind, shape };
}

export interface BuildWarning {
  fn: string;
  message: string;
}

function derived(program: Program, name: string, mode: 'vjp' | 'jvp', warnings: BuildWarning[]): ExecutableData | AotMissing {
  let f: Func;
  try {
    f = program[mode](name);
  } catch (e) {
    // The JIT raises this error when the form is first called; the module raises it then too.
    if (!(e instanceof CompileError)) throw e;
    warnings.push({ fn: name, message: `no ${mode.toUpperCase()}: ${e.message.split('\n')[0]}` });
    return { error: e.message };
  }
  return executableData(f, mode, `${name} (${mode})`, undefined, program[mode](name, 'gpu'), program.gridForm(name, mode), program.cpuForm(name, mode));
}

/** The embedded data of every function of a program. */
export function buildModuleData(program: Program, source: string, version: string, warnings: BuildWarning[] = []): AotModuleData {
  const functions: Record<string, AotFunctionData> = {};
  for (const name of program.names) {
    const lowered = program.lowered(name);
    if (lowered.kind === 'vjp' || lowered.kind === 'jvp') throw new InternalError(`${name}: a program function of kind ${lowered.kind}`);
    const fwdFunc = program.forward(name);
    const forward = executableData(fwdFunc, 'forward', `${name} (forward)`, undefined, fwdFunc, program.gridForm(name, 'forward'), program.cpuForm(name, 'forward'));
    const vjp = derived(program, name, 'vjp', warnings);
    const jvp = derived(program, name, 'jvp', warnings);
    for (const [mode, e] of [['forward', forward], ['vjp', vjp], ['jvp', jvp]] as const) {
      if ('variantError' in e && e.variantError) warnings.push({ fn: name, message: `no WebGPU kernel for the ${mode} (CPU only): ${e.variantError}` });
    }
    const vjpResults = 'error' in vjp ? [] : program.vjp(name).results.map((r) => r.name);
    const signature: AotSignature = {
      kind: lowered.kind as FunctionKind,
      params: lowered.params.map((p) => {
        const t = p.node.type as TensorType;
        const tt = typeText(t);
        return {
          name: p.name,
          type: tt.text,
          shape: tt.shape,
          struct: t.struct ?? 'general',
          ...(p.default !== undefined ? { default: p.default } : {}),
          differentiable: p.differentiable,
          ...(t.dtype === 'i' ? { int: true } : {}),
        };
      }),
      results: lowered.results.map((r) => {
        const t = r.node.type as TensorType;
        const tt = typeText(t);
        return { name: r.name, type: tt.text, shape: tt.shape, ...(t.dtype === 'i' ? { int: true } : {}) };
      }),
      intParams: lowered.intParams.map((p) => ({ name: p.name, ...(p.default !== undefined ? { default: p.default } : {}) })),
      derivedDims: lowered.derivedDims.map((d) => ({ name: d.name, value: d.value.toString() })),
      status: fwdFunc.status.map((s) => s.name),
      gradients: vjpResults.map(gradientOf).filter((p): p is string => p !== null),
      // as the JIT's jvp: every differentiable input of the function takes a tangent
      tangents: 'error' in jvp ? [] : lowered.params.filter((p) => p.differentiable).map((p) => p.name),
    };
    functions[name] = { signature, forward, vjp, jvp };
  }
  return { format: AOT_FORMAT, matc: version, source, functions };
}

