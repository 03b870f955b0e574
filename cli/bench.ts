// PLACEHOLDER (replaced in the WebGPU work of this session)
export async function benchCommand(_p: string[], _v: Record<string, string | boolean | undefined>): Promise<number> {
  throw new Error('bench: pending');
}
