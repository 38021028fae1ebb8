// A host function neither Envoy nor the host provides. AssemblyScript imports a file's declared functions from
// the module named after the file, so this one comes from "env" (used by ../missing-import.ts).
export declare function proxy_not_in_envoy(): u32;
