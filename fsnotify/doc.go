// Package fsnotify is simfs's file-system notification core: groups, marks
// on inodes, event delivery, and the callback that runs when a mark is
// destroyed because its inode was. It stands for Linux's fs/notify/
// (fsnotify.c: event delivery and fsnotify_parent; mark.c and inode_mark.c:
// marks, their per-inode lists and their destruction; group.c: groups) and
// for the parts of inotify (fs/notify/inotify/inotify_user.c and
// inotify_fsnotify.c) that a test watcher needs.
//
// The RFC "Pinning bpf objects outside bpffs" builds bpf_watch_inode on
// exactly this: one group, one mark per exposure with allow_dups, an empty
// event mask, and a freeing_mark callback that removes the kernfs file when
// the bpffs inode dies. Here that is
//
//	g := reg.NewGroup(fsnotify.GroupOps{})
//	m := &fsnotify.Mark{Private: kn, Freeing: func(m *fsnotify.Mark, why fsnotify.Reason) {
//		// kernfs_remove(m.Private), kernfs_put
//	}}
//	err := g.AddInodeMark(inode, m, true) // ENOENT if the inode is already dead
//
// # Model
//
// A [Registry] belongs to one [vfs.VFS] and implements [vfs.Notifier]: the
// VFS tells it about events, inode removal (fsnotify_inoderemove) and
// unmounting (fsnotify_unmount_inodes). It holds every [Group] made from it;
// there is no package-level state. A [Mark] joins one group to one inode;
// an inode has a list of marks (Linux's connector), in the order they were
// added, and any number of them may belong to one group when added with
// allowDups.
//
// A mark is destroyed exactly once, for one of four reasons ([Reason]):
// its inode was removed ([vfs.Notifier.InodeRemoved]: no link left and the
// entry that lost the last one gone; watchers that asked for
// IN_DELETE_SELF hear it first), its superblock was
// unmounted (IN_UNMOUNT first), [Group.DestroyMark] removed it, or its group
// closed. Destruction detaches it from its inode and group and then calls
// the group's FreeingMark and the mark's Freeing, in that order, once. Those
// callbacks run with no lock of this package held, from the goroutine that
// caused the destruction — for inode removal, the one whose system call
// dropped the last link or reference, after the VFS released its lock —
// so they may take other file systems' locks, start VFS transactions, add
// and destroy marks.
//
// Events reach a mark when its mask has the event's bit. Events about a
// directory entry (IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO) go to
// marks on the directory, with the entry's name. Events about an inode go
// first to marks on the directory it was reached through, with its name and
// [EventOnChild], if those marks watch children (EventOnChild in their
// mask; inotify sets it on every directory watch) and the event is one that
// children report (IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_OPEN, IN_CLOSE_*),
// then to marks on the inode itself, without a name (fsnotify_parent, then
// fsnotify). IN_ISDIR is added for directories.
//
// # Reference model and lock order
//
// A mark refers to its inode and group; the registry's per-inode lists and
// each group's list refer to the mark until it is destroyed. A mark does not
// hold a VFS reference on the inode (Linux's connector pins it with ihold,
// which changes nothing that can be observed here, since removal is decided
// by dentries, not by inode references). A removed inode takes no new marks
// (ENOENT): Linux would attach them and nothing would ever free them.
// Inodes that die without losing their link count (kernfs nodes removed by
// kernfs) are not reported, and their marks stay until destroyed
// explicitly, as Linux's marks keep such an inode alive without an event.
//
// Lock order: VFS lock → Registry.mu → an inotify instance's queue lock.
// The VFS calls Notifier methods without its lock, so the registry's lock is
// never held while the VFS lock is taken; AddInodeMark and DestroyMark do
// not take the VFS lock, so they may be called inside a VFS transaction
// (DestroyMark's callbacks then run inside it too: use Txn.Defer if they
// start transactions). GroupOps.HandleEvent runs with Registry.mu held (read
// side) and must not call back into this package or the VFS.
//
// # Left out
//
// fanotify, dnotify, mount and superblock marks, ignore masks, permission
// events, mark priorities (groups are not ordered; marks of one inode are
// delivered in the order they were added), the SRCU that lets Linux deliver
// without a lock, per-user watch and instance limits (inotify's
// max_user_watches, ENOSPC), inotify file descriptors and blocking read(2)
// semantics (Inotify.Read drains, Inotify.Wait blocks). The events are
// compared with inotify on the running kernel by this package's tests.
package fsnotify
