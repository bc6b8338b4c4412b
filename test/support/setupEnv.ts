// Every test process: the application's JSON logs stay quiet unless a run asks for them.
process.env.LOG_LEVEL ??= 'silent';
