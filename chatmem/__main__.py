from chatmem.cli import main

raise SystemExit(main())
