// The engine's public face: validate, plan and execute workflows with toy or real nodes alike.
export { validateWorkflow, type ValidationReport, type CatalogLookup } from "./validate.ts";
export { executeWorkflow, ExecutionFailed, ExecutionCancelled, literalInputs, type ExecutionResult, type ExecutionHooks, type ExecuteOptions } from "./execute.ts";
export { OutputCache, estimateBytes } from "./cache.ts";
export { executionOrder, planExecution, findCycle, sourcesOf } from "./graph.ts";
export { migrateWorkflow, parseWorkflow, WorkflowFormatError } from "./migrate.ts";
export { buildCatalog } from "./catalog.ts";
export { applyValues, coerceLiteral, ParamError } from "./params.ts";
export { rerollUpstream, ancestorsOf } from "./reroll.ts";
export { expandComponents, foldComponentErrors, componentKey, ComponentError, COMPONENT_PREFIX } from "./components.ts";
export { cutAtGates } from "./checkpoint.ts";
export { compilePrompt, type CompileOptions, type CompileResult, type Plan } from "./compile.ts";
export { estimatePlan, checkBudget, formatBytes, type MemoryPlan, type NodeMemory, type BudgetVerdict, type PackInfoLookup, type DefLookup } from "./memory.ts";
