// The catalog clients see: node definitions without code, dynamic COMBO options resolved now.
import type { NodeDef, NodeServices, NodeSpec } from "../../nodes/schema.ts";

export function buildCatalog(registry: ReadonlyMap<string, NodeDef>, services: NodeServices): NodeSpec[] {
  return [...registry.values()].map((def) => ({
    type: def.type,
    displayName: def.displayName,
    category: def.category,
    description: def.description,
    output: def.output,
    outputs: def.outputs,
    inputs: def.inputs.map((input) => {
      const dynamic = def.dynamicOptions?.[input.name];
      if (!dynamic) return input;
      const options = dynamic(services);
      return { ...input, options, default: options.includes(input.default as string) ? input.default : options[0] };
    }),
  }));
}
