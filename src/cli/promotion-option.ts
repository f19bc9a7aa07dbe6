/** `--on-promote drain|move`, the one promotion policy of both fronts (serve and proxy). */
import { PROMOTION_POLICIES, type PromotionPolicy } from '../domain/pin-decision.js';
import { AppError } from '../errors.js';
import type { ParsedArgs } from './args.js';

/** The policy given, or `fallback` (each front's own default); a usage error names the choices otherwise. */
export function promotionOption(args: ParsedArgs, fallback: PromotionPolicy): PromotionPolicy {
  const v = args.strings['on-promote'];
  if (v === undefined) return fallback;
  if (!(PROMOTION_POLICIES as readonly string[]).includes(v)) throw new AppError('usage', `--on-promote must be ${PROMOTION_POLICIES.join(' or ')}, got "${v}"`);
  return v as PromotionPolicy;
}
