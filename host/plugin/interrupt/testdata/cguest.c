// A C reactor for the interrupt tests. cguest.wasm beside it was built with
//
//	clang --target=wasm32-wasi -O2 -mexec-model=reactor -o cguest.wasm cguest.c
//
// (clang 14, wasi-libc); the tests rebuild it when such a clang is present.

__attribute__((import_module("test"), import_name("started"))) void started(void);

// sum returns 0 + 1 + ... + (n-1).
__attribute__((export_name("sum"))) long long sum(int n) {
	long long s = 0;
	for (int i = 0; i < n; i++) {
		s += i;
	}
	return s;
}

// fib returns the n-th Fibonacci number, recursively.
__attribute__((export_name("fib"))) int fib(int n) {
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static volatile unsigned ticks;

// spin calls test.started, then loops forever.
__attribute__((export_name("spin"))) void spin(void) {
	started();
	for (;;) {
		ticks++;
	}
}
