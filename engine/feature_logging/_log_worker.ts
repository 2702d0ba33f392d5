/**
 * The feature log's encoder thread: receives a part's buffers (transferred), answers its
 * Parquet bytes (transferred back), so that encoding never holds up the server's requests.
 * Protocol: `{ id, buffers }` in; `{ id, bytes }` or `{ id, error }` out.
 */
import type { LogBuffer } from "./_log_buffers.ts";
import { encodeLogBuffers } from "./_log_encode.ts";

/** A part to encode. */
export interface EncodeRequest {
  readonly id: number;
  readonly buffers: readonly LogBuffer[];
}

/** Its bytes, or why there are none. */
export type EncodeAnswer =
  | { readonly id: number; readonly bytes: Uint8Array }
  | { readonly id: number; readonly error: string };

const scope = globalThis as unknown as {
  postMessage(message: EncodeAnswer, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<EncodeRequest>) => void) | null;
};

scope.onmessage = (event) => {
  const { id, buffers } = event.data;
  try {
    const bytes = encodeLogBuffers(buffers);
    scope.postMessage({ id, bytes }, [bytes.buffer as ArrayBuffer]);
  } catch (err) {
    scope.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
};
