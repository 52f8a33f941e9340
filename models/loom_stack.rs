#![cfg(loom)]
//! The persistent stack behind `TQueue` shares a chunk between versions: two pushes onto
//! one version race for its next free slot (one claims it, the other copies), while a
//! third thread reads that version. Every version keeps exactly its own values, and each
//! value is dropped once (loom reports a leaked `Arc` or a racy slot access).

use braid::__loom::Stack;
use loom::sync::Arc;
use loom::thread;

#[test]
fn two_pushes_onto_one_version_and_a_reader_each_see_their_own_values() {
    loom::model(|| {
        // One value in a two-slot chunk: the next slot is free to claim.
        let base = Arc::new(Stack::new().push(1));
        let pushers: Vec<_> = [10, 20]
            .into_iter()
            .map(|n| {
                let base = base.clone();
                thread::spawn(move || (n, base.push(n)))
            })
            .collect();
        assert_eq!(base.values(), [1]);
        for pusher in pushers {
            let (n, pushed) = pusher.join().unwrap();
            assert_eq!(pushed.values(), [1, n]);
            // And onward, across the chunk boundary.
            assert_eq!(pushed.push(n + 1).values(), [1, n, n + 1]);
        }
        assert_eq!(base.values(), [1]);
    });
}

#[test]
fn a_version_handed_to_another_thread_is_read_and_extended_there() {
    loom::model(|| {
        let (send, receive) = loom::sync::mpsc::channel();
        let producer = thread::spawn(move || {
            let one = Stack::new().push(1);
            send.send(one.clone()).unwrap();
            // Racing the consumer: claims the slot the consumer may also want.
            one.push(2)
        });
        let one = receive.recv().unwrap();
        let mine = one.push(3);
        let theirs = producer.join().unwrap();
        assert_eq!(mine.values(), [1, 3]);
        assert_eq!(theirs.values(), [1, 2]);
    });
}
