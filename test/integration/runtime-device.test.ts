import { test } from "node:test";
import assert from "node:assert/strict";
import { type Device, cudaProviderFiles, probeDevice, resolveDevice, sessionOptionsFor, vulkanLoader } from "../../server/runtime/device.ts";
import { RuntimeError } from "../../server/runtime/errors.ts";

const cudaInstalled = cudaProviderFiles().missing.length === 0;

test("device auto falls back to cpu here and says why cuda failed", { skip: cudaInstalled && "CUDA provider files are installed here" }, async () => {
  const lines: string[] = [];
  const choice = await resolveDevice("auto", { log: (l) => lines.push(l), cache: false });
  assert.ok(choice.device === "cpu" || choice.device === "webgpu", `got ${choice.device}`);
  const cuda = choice.attempts.find((a) => a.device === "cuda");
  assert.ok(cuda && !cuda.ok);
  assert.match(cuda.reason!, /CUDA provider files are not installed: run `npm run setup:cuda` \(needs network and CUDA 12\)/);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^device: (cpu|webgpu) \(auto; cuda: the CUDA provider files are not installed/);
});

test("device auto tries cuda, then webgpu, then cpu and reports each failure", async () => {
  const tried: Device[] = [];
  const probe = async (d: Device) => {
    tried.push(d);
    if (d !== "cpu") throw new Error(`${d} is broken in this test`);
  };
  const choice = await resolveDevice("auto", { probe, log: () => {} });
  assert.deepEqual(tried, ["cuda", "webgpu", "cpu"]);
  assert.equal(choice.device, "cpu");
  assert.deepEqual(choice.executionProviders, ["cpu"]);
  assert.match(choice.summary, /cuda: cuda is broken in this test; webgpu: webgpu is broken in this test/);
});

test("device auto takes the first device that starts", async () => {
  const choice = await resolveDevice("auto", { probe: async (d) => { if (d === "cuda") throw new Error("no"); }, log: () => {} });
  assert.equal(choice.device, "webgpu");
  assert.deepEqual(choice.executionProviders, ["webgpu", "cpu"]);
});

test("explicit cuda that cannot start is an error mentioning setup:cuda", { skip: cudaInstalled && "CUDA provider files are installed here" }, async () => {
  await assert.rejects(resolveDevice("cuda", { log: () => {}, cache: false }), (e: unknown) => {
    assert.ok(e instanceof RuntimeError);
    assert.equal(e.kind, "device-unavailable");
    assert.match(e.message, /--device cuda cannot start: the CUDA provider files are not installed.*npm run setup:cuda/);
    return true;
  });
});

test("an unknown device name is refused with the valid names", async () => {
  await assert.rejects(resolveDevice("tpu", { log: () => {} }), /unknown device 'tpu': use one of auto, cpu, cuda, webgpu/);
});

test("explicit webgpu without the Vulkan loader is an error naming libvulkan.so.1", { skip: process.platform !== "linux" || (!!vulkanLoader() && "the Vulkan loader is installed here") }, async () => {
  await assert.rejects(resolveDevice("webgpu", { log: () => {}, cache: false }), /--device webgpu cannot start: WebGPU needs the Vulkan loader \(libvulkan\.so\.1\), which is not installed/);
});

test("cpu probe session starts and computes", async () => {
  await probeDevice("cpu");
});

test("session options are tuned: all optimisations, threads from the machine, sequential, memory pattern", () => {
  const o = sessionOptionsFor("cpu");
  assert.equal(o.graphOptimizationLevel, "all");
  assert.ok((o.intraOpNumThreads ?? 0) >= 1);
  assert.equal(o.interOpNumThreads, 1);
  assert.equal(o.executionMode, "sequential");
  assert.equal(o.enableMemPattern, true);
  assert.deepEqual(o.executionProviders, ["cpu"]);
});
