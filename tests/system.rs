//! frontline as a process, one test binary: the `frontline` executable end to end (serve,
//! chat, eval, flows, the console in a real browser), a `kill -9` in the middle of a thousand
//! messages, and two replicas on one PostgreSQL database.

mod support;

mod crash;
mod end_to_end;
mod replicas;
