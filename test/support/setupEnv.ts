// Every test process: the application's JSON logs stay quiet unless a run asks for them.
process.env.LOG_LEVEL ??= 'silent';
// CLI tools the tests run (admin, setup) read the payload master key from the environment.
process.env.PAYLOAD_MASTER_KEY ??= '0f4dccedd533f9bc635bc553d7c7a7894dcdcfec8e034327ba4c99882bf29d3b';
