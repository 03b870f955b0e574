// PLACEHOLDER (replaced in the WebGPU work of this session)
import type { Program } from '../compile.js';
export function scheduleText(_p: Program, _fn: string, _stage: 'schedule' | 'wgsl'): string {
  throw new Error('schedule: pending');
}
