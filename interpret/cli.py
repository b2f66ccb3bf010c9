import click


@click.group()
def main():
    """interpret (arrives with its issue)."""
