"""``python -m decisiontelecom_async._cli``: the same as the ``decisiontelecom`` script."""

from decisiontelecom_async._cli import main

main()
