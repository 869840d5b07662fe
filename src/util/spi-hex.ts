// SPIs print as 0x-prefixed, 8 hex digits everywhere (status output, logs, tokens), the
// way `ip xfrm` and strongSwan show them, so operators can match them across tools.
export function spiHex(spi: number): string {
  return `0x${(spi >>> 0).toString(16).padStart(8, '0')}`;
}
