// proxy_log with an i64 level, where cpp-host registers three i32s (used by ../../wrong-signature.ts).
export declare function proxy_log(level: i64, ptr: i32, len: i32): i32;
