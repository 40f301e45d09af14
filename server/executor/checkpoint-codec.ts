// Gate checkpoints and live events as bytes: V8's serializer keeps typed arrays (latents,
// images) and buffers (previews) as binary, in SQLite, over IPC and through Redis alike.
import { deserialize, serialize } from "node:v8";

export const encodeValue = (value: unknown): Buffer => serialize(value);
export const decodeValue = (bytes: Uint8Array): unknown => deserialize(bytes);
