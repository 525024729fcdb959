/**
 * The cron secret check: `Authorization: Bearer <secret>`, compared in constant time.
 * @module
 */

/**
 * Whether `header` is exactly `Bearer <secret>`. Both sides are hashed before the byte-by-byte
 * comparison, so the time taken reveals neither the secret's length nor how much of it matched.
 */
export async function bearerMatches(header: string | null, secret: string): Promise<boolean> {
  const [given, expected] = await Promise.all([sha256(header ?? ''), sha256(`Bearer ${secret}`)]);
  let difference = 0;
  for (let index = 0; index < expected.length; index++) difference |= given[index]! ^ expected[index]!;
  return header !== null && difference === 0;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}
