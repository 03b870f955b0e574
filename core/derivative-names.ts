// Names of the extra parameters and results of derived functions, in one place.
//
// The VJP of f(params…) -> results… is a function of (params…, one cotangent per result) returning
// (results…, one gradient per differentiable parameter); the JVP is a function of (params…, one
// tangent per differentiable parameter) returning (results…, one tangent per result). The derived
// inputs and results are named from the user's names with a prefix that ends in '.', a character
// no identifier of the language can contain (grammar/tokens.ts: [A-Za-z_][A-Za-z0-9_]*). So they
// never collide with a user's name: a parameter called `dx` beside `x`, or stdlib qr_backward's
// `dQ`, `dR`, stays a parameter of its own in the derived function.
//
// These are the IR names (what `matc ir --stage diff` prints, what the compiled function binds by
// name). The public API does not show them: CompiledFn.vjp takes cotangents keyed by result name
// and returns gradients keyed by parameter name; jvp takes tangents keyed by parameter name and
// returns tangents keyed by result name (compiler/module.ts, runtime/aot/function.ts).
//
// The IR printer keeps '.' in parameter names and the IR parser reads it back; the printer's own
// disambiguation of repeated names is a numeric suffix `.1`, `.2`, which a derived name never ends
// in (the part after the prefix is an identifier, never all digits).

/** Prefix of a cotangent parameter of a VJP (one per result of the function). */
export const COTANGENT_PREFIX = 'ct.';
/** Prefix of a tangent: a JVP parameter (one per differentiable parameter) or result (one per result),
 *  and a loop carry's tangent inside a differentiated loop. */
export const TANGENT_PREFIX = 'tg.';
/** Prefix of a gradient result of a VJP (one per differentiable parameter). */
export const GRADIENT_PREFIX = 'grad.';

/** The VJP's parameter holding the cotangent of `result`. */
export function cotangentName(result: string): string {
  return COTANGENT_PREFIX + result;
}

/** The JVP's parameter holding the tangent of parameter `name`, or its result holding the tangent of
 *  result `name`. */
export function tangentName(name: string): string {
  return TANGENT_PREFIX + name;
}

/** The VJP's result holding the gradient of parameter `param`. */
export function gradientName(param: string): string {
  return GRADIENT_PREFIX + param;
}

/** The parameter whose gradient a VJP result is, or null for a result of the function itself. */
export function gradientOf(resultName: string): string | null {
  return resultName.startsWith(GRADIENT_PREFIX) ? resultName.slice(GRADIENT_PREFIX.length) : null;
}

/** The name a cotangent parameter is the cotangent of, or null for a parameter of the function itself. */
export function cotangentOf(paramName: string): string | null {
  return paramName.startsWith(COTANGENT_PREFIX) ? paramName.slice(COTANGENT_PREFIX.length) : null;
}

/** The name a tangent parameter or result is the tangent of, or null for one of the function itself. */
export function tangentOf(name: string): string | null {
  return name.startsWith(TANGENT_PREFIX) ? name.slice(TANGENT_PREFIX.length) : null;
}

/** How an error message names a parameter of a function or of its VJP/JVP: `input 'A'`, or for
 *  a derived parameter what it is in the caller's terms (`the cotangent of output 'x'`, `the
 *  tangent of input 'A'`), since the caller passed it under the user's name. */
export function describeParam(name: string): string {
  const ct = cotangentOf(name);
  if (ct !== null) return `the cotangent of output '${ct}'`;
  const tg = tangentOf(name);
  if (tg !== null) return `the tangent of input '${tg}'`;
  return `input '${name}'`;
}

/** Is this a derived parameter or result (a cotangent, tangent or gradient), not one of the user's? */
export function isDerivedName(name: string): boolean {
  return cotangentOf(name) !== null || tangentOf(name) !== null || gradientOf(name) !== null;
}
