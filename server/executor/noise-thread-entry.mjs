// Worker threads start without the parent's TypeScript loader; register tsx here, then load the
// noise helper.
import { register } from "tsx/esm/api";

register();
await import("./noise-thread.ts");
