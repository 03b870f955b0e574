// fast-check's runner with the failure's own message in the thrown error: node's test reporter
// prints the message but not `cause`, and the cause is what says which check failed and why.

import fc from 'fast-check';

export async function assertProperty<T extends [unknown, ...unknown[]]>(prop: fc.IAsyncPropertyWithHooks<T> | fc.IPropertyWithHooks<T>, params: fc.Parameters<T>): Promise<void> {
  const out = await fc.check(prop as fc.IAsyncPropertyWithHooks<T>, { markInterruptAsFailure: false, ...params });
  if (!out.failed) return;
  const report = fc.defaultReportMessage(out) ?? 'property failed';
  const err = out.errorInstance instanceof Error ? `\n\nFirst failure (after shrinking):\n${out.errorInstance.message}` : '';
  throw new Error(`${report}${err}`);
}
