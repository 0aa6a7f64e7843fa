/work/main/examples/nolibc/target-base/x86_64-unknown-linux-gnu/release/deps/nolibc_async_echo-4dbddd744609720a.d: src/bin/async_echo.rs src/bin/../startup.rs

/work/main/examples/nolibc/target-base/x86_64-unknown-linux-gnu/release/deps/nolibc_async_echo-4dbddd744609720a: src/bin/async_echo.rs src/bin/../startup.rs

src/bin/async_echo.rs:
src/bin/../startup.rs:
