/** server/diffusion: the math of the cascade. Pure functions over Float32Array; no I/O, no ONNX. */
export * from "./schedule.ts";
export * from "./noise.ts";
export * from "./guidance.ts";
export * from "./samplers.ts";
export * from "./preview.ts";
