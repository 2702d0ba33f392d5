/** Reads `Authorization: Bearer <credential>`. */
import { LarderError } from "../../engine/mod.ts";

/** The bearer credential of `request`; throws `UNAUTHENTICATED` when there is none. */
export function bearerCredential(request: Request): string {
  const header = request.headers.get("authorization");
  if (header === null || header.trim() === "") {
    throw new LarderError(
      "UNAUTHENTICATED",
      'Missing credentials: send "Authorization: Bearer <token>"',
    );
  }
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  if (!match) {
    throw new LarderError(
      "UNAUTHENTICATED",
      'Invalid Authorization header: expected "Bearer <token>"',
    );
  }
  return match[1]!;
}
